"""Portfolio margin by full revaluation: SPAN risk arrays with the volatility leg, Deribit's scenario grid, filtered-HS expected shortfall."""
