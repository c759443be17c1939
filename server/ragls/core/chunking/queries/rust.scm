; Trait and extern signatures are function_signature_item nodes, so only bodies match.
(function_item name: (identifier) @name body: (block)) @function
