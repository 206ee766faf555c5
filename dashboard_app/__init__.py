"""qtws live dashboard demo: ticks of a few hundred symbols, conflated into a table and a chart."""
