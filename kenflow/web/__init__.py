"""The three users' interfaces: JSON API, coordinator dashboard, zone pages, municipality inbox."""
