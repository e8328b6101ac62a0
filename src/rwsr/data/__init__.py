"""Training data: MATLAB-exact resizing, LR/HR pairs, noise sampling (CATI, bank), NGDC,
data set readers and the torch Dataset. Import the submodules you need; nothing here is
imported eagerly."""
