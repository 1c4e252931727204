"""The notifications plugin: in-app inbox, email on domain events, preferences.

- Inbox (``/api/notifications``): list (``page``, ``limit``, ``unread``), ``GET /{id}``,
  ``/unread-count``, ``PATCH /{id}/read``, ``POST /read-all``, ``DELETE /{id}``; each
  creation emits ``notification.created`` (:mod:`plugins.notifications.events`).
- Preferences (``/api/notifications/preferences``): per event type and channel;
  receipts (``payment.completed``) and security mail (``user.deleted``) always go out.
- Activity log (``/api/notifications/activity``): ``user.updated`` entries.
- Reactions (:mod:`plugins.notifications.reactions`): one durable listener per event, by
  name, so any publisher may be disabled. Redelivery is harmless: unique indexes on
  (event id, recipient, channel).
- Templates: ``templates/<event>.txt|.html`` (email) and ``templates/inapp/<event>.txt``;
  ``[plugins.notifications] template_dir`` overrides any of them.
- Development: ``/dev/mailbox`` lists and renders what reached the SMTP sink.
"""
