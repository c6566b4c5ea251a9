"""Parking administration (admin role): lots and capacities (`lots`), attendants (`attendants`), tariff zones
and versions (`tariff_versions`), monthly passes (`passes`) — services, each write one audited transaction;
the JSON API (`api`) and the pages with their forms (`pages`: /admin/parking/lots, /tariffs, /passes and
/attendants, one concern each) call them."""
