"""The "weights don't move" experiment (Jesus et al. 2021, arXiv 2012.02550).

An MLP with two equal-width ReLU hidden layers gets a letter stamped into its
hidden-to-hidden matrix at init; after training we measure how far each layer
moved (||W_t - W_0|| / ||W_0||) and whether the stamp is still visible (mask AUC),
across width x optimizer x seed.
"""
