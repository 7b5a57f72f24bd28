"""Articles: post-incident analyses (PIA), playbooks and related documents."""
