"""Networks of RWSR-EDL: the RRDB generator, the exclusionary dual-learning head, the
discriminators and the VGG19 feature extractor, each a plain nn.Module built from a typed
config; `rwsr.models.checkpoint` reads and writes them."""
