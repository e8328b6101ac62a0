"""GAN training of RWSR-EDL: losses (paper Eq. 5-8), typed configs, the training loop."""
