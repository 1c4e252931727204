"""The bookings plugin: Services, bookings and reviews."""
