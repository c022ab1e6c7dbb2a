"""Search for the compressed model that fits a budget: Optuna draws recipes, Ray runs the trials.

space (the searched recipe), trial (one build and measurement, a Ray task each), cluster (start or
join Ray), front (Pareto front, budget, pick), driver (the loop, resume, finish), report (tables and plots).
"""
