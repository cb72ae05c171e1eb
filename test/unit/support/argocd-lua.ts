// Runs an Argo CD health script (argocd/health/cmk.io/<Kind>/health.lua) the way Argo CD does:
// the object as the global `obj`, the script's returned table read as { status, message }. The VM
// is fengari (Lua 5.3 in JavaScript); Argo CD runs Lua 5.1, so the scripts keep to the common subset
// (`luaSubsetViolations`) and numbers can be passed both as floats (as Argo CD's gopher-lua does:
// every number is a float64) and as 5.3 integers, to show the result does not depend on it.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

type LuaState = object;

/** The part of fengari's API the runner uses (fengari ships no type declarations). */
interface Fengari {
  lua: {
    LUA_OK: number;
    LUA_TTABLE: number;
    LUA_TSTRING: number;
    lua_pushnil(L: LuaState): void;
    lua_pushboolean(L: LuaState, b: boolean): void;
    lua_pushnumber(L: LuaState, n: number): void;
    lua_pushinteger(L: LuaState, n: number): void;
    lua_pushstring(L: LuaState, s: Uint8Array): void;
    lua_createtable(L: LuaState, narr: number, nrec: number): void;
    lua_setfield(L: LuaState, index: number, key: Uint8Array): void;
    lua_rawseti(L: LuaState, index: number, i: number): void;
    lua_setglobal(L: LuaState, name: Uint8Array): void;
    lua_pcall(L: LuaState, nargs: number, nresults: number, msgh: number): number;
    lua_getfield(L: LuaState, index: number, key: Uint8Array): number;
    lua_type(L: LuaState, index: number): number;
    lua_tojsstring(L: LuaState, index: number): string;
    lua_pop(L: LuaState, n: number): void;
  };
  lauxlib: {
    luaL_newstate(): LuaState;
    luaL_loadstring(L: LuaState, s: Uint8Array): number;
  };
  lualib: { luaL_openlibs(L: LuaState): void };
  to_luastring(s: string): Uint8Array;
}

const fengari = createRequire(import.meta.url)('fengari') as Fengari;
const { lua, lauxlib, lualib, to_luastring } = fengari;

export const healthDir = fileURLToPath(new URL('../../../argocd/health/cmk.io', import.meta.url));

export function healthScript(kind: string): string {
  return readFileSync(join(healthDir, kind, 'health.lua'), 'utf8');
}

export interface Health {
  status: string | undefined;
  message: string | undefined;
}

function push(L: LuaState, value: unknown, numbers: 'float' | 'integer'): void {
  if (value === null || value === undefined) lua.lua_pushnil(L);
  else if (typeof value === 'boolean') lua.lua_pushboolean(L, value);
  else if (typeof value === 'number') {
    if (numbers === 'integer' && Number.isInteger(value)) lua.lua_pushinteger(L, value);
    else lua.lua_pushnumber(L, value);
  } else if (typeof value === 'string') lua.lua_pushstring(L, to_luastring(value));
  else if (Array.isArray(value)) {
    lua.lua_createtable(L, value.length, 0);
    value.forEach((item, i) => {
      push(L, item, numbers);
      lua.lua_rawseti(L, -2, i + 1);
    });
  } else if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    lua.lua_createtable(L, 0, entries.length);
    for (const [k, v] of entries) {
      push(L, v, numbers);
      lua.lua_setfield(L, -2, to_luastring(k));
    }
  } else {
    throw new Error(`cannot pass ${typeof value} to Lua`);
  }
}

/** Runs `script` with the global `obj`; throws on a Lua error or a result that is not a table. */
export function runHealth(script: string, obj: unknown, numbers: 'float' | 'integer' = 'float'): Health {
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  push(L, obj, numbers);
  lua.lua_setglobal(L, to_luastring('obj'));
  if (lauxlib.luaL_loadstring(L, to_luastring(script)) !== lua.LUA_OK)
    throw new Error(`Lua syntax: ${lua.lua_tojsstring(L, -1)}`);
  if (lua.lua_pcall(L, 0, 1, 0) !== lua.LUA_OK) throw new Error(`Lua error: ${lua.lua_tojsstring(L, -1)}`);
  if (lua.lua_type(L, -1) !== lua.LUA_TTABLE) throw new Error('the health script returned no table');
  const field = (name: string): string | undefined => {
    const type = lua.lua_getfield(L, -1, to_luastring(name));
    const value = type === lua.LUA_TSTRING ? lua.lua_tojsstring(L, -1) : undefined;
    lua.lua_pop(L, 1);
    return value;
  };
  return { status: field('status'), message: field('message') };
}

/**
 * Constructs outside Lua 5.1 ∩ 5.3 (what Argo CD's Lua 5.1 lacks, or what 5.3 removed), found in
 * the code with comments and string literals blanked out.
 */
export function luaSubsetViolations(script: string): string[] {
  const code = script
    .replace(/--\[(=*)\[[\s\S]*?\]\1\]/g, ' ')
    .replace(/--[^\n]*/g, ' ')
    .replace(/\[(=*)\[[\s\S]*?\]\1\]/g, '""')
    .replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, '""');
  const rules: Array<[RegExp, string]> = [
    [/\bgoto\b|::\w+::/, 'goto and labels (5.2+)'],
    [/\/\//, 'integer division // (5.3)'],
    [/[&|]|<<|>>|~(?!=)/, 'bitwise operators (5.3)'],
    [
      /\b(utf8|table\.(unpack|move|pack)|math\.(type|tointeger|ult)|string\.(pack|unpack|packsize))\b/,
      '5.3-only library',
    ],
    [
      /(?<![.\w])(unpack|setfenv|getfenv|loadstring|module)\b|\b(table\.[gs]etn|math\.pow|math\.mod|string\.gfind)\b/,
      '5.1-only, removed in 5.3',
    ],
    [/\b0x[0-9a-fA-F]*\.|\d+[eE]?\d*\.\d+[pP]/, 'hex floats'],
  ];
  return rules.filter(([re]) => re.test(code)).map(([, what]) => what);
}
