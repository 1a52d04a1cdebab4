import os
import sys

# Tests import `helpers` as a sibling module and run against the checkout they live in.
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
