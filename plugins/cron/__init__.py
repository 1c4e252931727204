"""The cron plugin: Housekeeping jobs and the operator view of every schedule."""
