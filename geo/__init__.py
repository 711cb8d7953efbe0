"""Pure geometry for Sipingtai: jurisdictions, the spatial index, coordinate systems."""
