//! The main job: a loopback network of nodes that restarts and reconnects from its peer files.
