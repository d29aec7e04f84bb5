"""Network drivers: bridge (skiff's own Linux bridges), host (the host's
namespace) and null ("none": a namespace with only lo)."""
