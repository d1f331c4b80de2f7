"""Kafka edges outside faust: dead letters, catalog publishing, topic administration."""
