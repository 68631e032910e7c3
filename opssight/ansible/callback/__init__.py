"""Ansible loads ``opssight.py`` from this folder by path; nothing imports it."""
