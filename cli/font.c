/* A small built-in bitmap font for ramscli explain (a later job). */
