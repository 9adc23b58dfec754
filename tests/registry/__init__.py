"""The registry floor: plugins, hookspecs, declarations (OpDef, Domain) and OpSet."""
