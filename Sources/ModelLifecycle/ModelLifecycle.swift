// ModelLifecycle module.
