"""What people read: the self-contained HTML report of a training run and its parts."""
