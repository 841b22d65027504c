"""What runs inside an environment's pytest child: the plugin, the fixtures, the testinfra backend, the wire."""
