/** Model configs: typed, validated, frozen plain objects parsed from `config.json`. */
export * from './gemma.js';
export * from './t5gemma.js';
export * from './gemma3.js';
export * from './bounds.js';
