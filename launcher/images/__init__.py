"""Images for container resources: generated or user Dockerfiles, content-hash tags, push, the base image."""
