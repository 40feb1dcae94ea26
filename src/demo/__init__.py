"""The demo world: a seeded, synthetic product-led SaaS company (contract section 6).

Every account has a latent engagement trajectory, intent pulses, a sales-assist (demo)
window and a team-size trajectory. Product events and marketing touches are Poisson noise
around those latents, and the daily conversion hazard is a function of the latents only,
so the generator knows the exact probability of converting within any horizon
(``DemoWorld.true_probability``): the ceiling any model trained on the tables can reach.

``DemoConfig`` also switches on quirks of real data (labels recorded only from some date,
stale pools that never convert, no firmographics, a single event name, day-resolution
timestamps, an id-like text column, no touches, no user ids); ``VARIANTS`` names ready-made
combinations (``DemoConfig.variant("bare")``). A quirk changes what the tables show, never
how the normal accounts behave: a variant is the quirk-free world of the same seed, seen
through the quirk (stale accounts come from a random stream of their own; adding them
renumbers the ids, which follow signup order in both pools alike).

The API::

    from demo import DemoConfig, generate_demo
    world = generate_demo(DemoConfig(accounts=1000, days=180))        # or DemoConfig.variant("bare")
    world.events, world.true_probability(world.weekly_snapshots())

``python -m demo --out FOLDER`` writes the tables as Parquet. The modules, in the order the
generator runs them:

* ``demo.config``: ``DemoConfig``, ``VARIANTS``, what the demo world brings for itself (``brings``);
* ``demo.firmographics``: the accounts, their signup times and fit;
* ``demo.latents``: engagement, intent, team; the hazard and the conversions it causes;
* ``demo.activity``: product events and marketing touches;
* ``demo.stale``: the stale-pool quirk;
* ``demo.frames``: the output tables, quirks applied;
* ``demo.world``: ``generate_demo`` and ``DemoWorld`` (the tables and the exact truth).
"""

from demo.config import VARIANTS, DemoConfig, brings
from demo.world import DemoWorld, generate_demo

__all__ = ["VARIANTS", "DemoConfig", "DemoWorld", "brings", "generate_demo"]
