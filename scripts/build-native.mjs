// Placeholder: builds the optional native addon; never fails the install.
