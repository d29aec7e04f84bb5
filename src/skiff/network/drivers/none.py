"""The null driver ("none"): a network namespace of the container's own
with only ``lo`` up."""

NAME = "null"
