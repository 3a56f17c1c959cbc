"""What the tests share: manifest builders, running `tuneforge` as a user does, an S3 server on
loopback, the Pod Security check, and the real control plane with its node stand-in (cluster.py,
node.py, clusterkit.py). Imported as `support.<module>`; node.py also runs as a script."""
