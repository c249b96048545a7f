"""Test-time search over a generator and a process-reward verifier (VG-Search style)."""
