"""Reports: executing notebooks to self-contained HTML (the README's main job)."""
