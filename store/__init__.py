"""The Redis layout: key and field names, time buckets, the catalog write; spelled only here."""
