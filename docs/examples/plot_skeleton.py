"""
Skeleton
========

A placeholder that the first real example replaces.
"""
import matplotlib.pyplot as plt

plt.plot([0, 1], [0, 1])
