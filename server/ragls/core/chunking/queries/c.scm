; Only definitions: prototypes are `declaration` nodes. The name is dug out of the declarator.
(function_definition declarator: (_) @name body: (compound_statement)) @function
