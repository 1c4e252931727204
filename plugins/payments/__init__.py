"""The payments plugin: Stripe payment intents, webhooks and refunds."""
