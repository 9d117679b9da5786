"""Portfolio margin by full revaluation: SPAN risk arrays, Deribit's scenario grid, filtered-HS expected shortfall."""
