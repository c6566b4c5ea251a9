"""Parking administration (admin role): lots and capacities (`lots`), attendants (`attendants`), tariff zones
and versions (`tariff_versions`), monthly passes (`passes`) — services, each write one audited transaction;
the JSON API (`api`) and the /admin/parking page with its forms (`pages`) call them."""
