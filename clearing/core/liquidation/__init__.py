"""core/liquidation"""
