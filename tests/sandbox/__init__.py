"""Tests of the sandbox package: real confined processes, no mocks."""
