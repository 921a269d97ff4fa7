export * from './bytes.ts';
export * from './errors.ts';
export * from './http.ts';
export * from './ids.ts';
export * from './limits.ts';
export * from './parse.ts';
export * from './signing.ts';
export * from './ws.ts';
