"""Built-in keel plugins; each registers through the ``keel.plugins`` entry-point group."""
