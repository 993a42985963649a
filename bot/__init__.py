"""harkbot: social listening and alerting for brands, competitors and topics."""

__version__ = "0.1.0"
