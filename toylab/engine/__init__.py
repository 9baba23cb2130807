"""The GAN engine: configs (config), targets (datasets), networks (nets, model), objectives
(losses), seeded random streams (streams), CPU threads (threads), the training loop (training)
and run records and files (runs). May import toylab.measure (training records measurements)."""
