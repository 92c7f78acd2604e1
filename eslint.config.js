// Lint: ESLint's and typescript-eslint's recommended rules, type-aware, so that floating
// promises and unsafe `any` are caught on the byte path and everywhere else.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/**
 * The layers of src/, lowest first. A folder may import from the folders listed before it and
 * from itself, never from a later one: pure core ← config ← http (pure HTTP echo) ← connection ← transports ← server ←
 * observability ← cli. tools/ (bench, check) are clients: they import core/ and nothing else.
 * This table is the one statement of the rule; README's source map describes it for people.
 */
const LAYERS = ['core', 'config', 'http', 'connection', 'transports', 'server', 'observability', 'cli'];
const CLIENT_TOOLS = { folder: 'tools', may: ['core'] };

/**
 * Gateways: within a layer, the one file through which it reaches a lower layer. Transport
 * selection is the only server/ file that imports transports/; the rest of server/ sees the
 * Listener interface (connection/transport.ts).
 */
const GATEWAYS = [{ folder: 'server', file: 'transport-select.ts', to: 'transports' }];

/**
 * @param {string} folder
 * @param {string[]} may
 * @param {{ files?: string[]; ignores?: string[]; gated?: typeof GATEWAYS }} [scope]
 */
function boundary(folder, may, { files = [`src/${folder}/**/*.ts`], ignores = [], gated = [] } = {}) {
  const all = [...LAYERS, CLIENT_TOOLS.folder];
  const banned = all.filter((other) => other !== folder && !may.includes(other));
  const through = gated.map((gate) => `; src/${gate.to}/ only through src/${gate.folder}/${gate.file}`).join('');
  return {
    files,
    ignores,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...banned.map((other) => `**/${other}/*`), '**/index.js'],
              message: `src/${folder}/ may import only from ${may.map((m) => `src/${m}/`).join(', ') || 'itself'}${through} (layers: ${LAYERS.join(' ← ')}; tools import core only)`,
            },
          ],
        },
      ],
    },
  };
}

/**
 * A layer's rule: every earlier layer, except those its gateways alone may reach.
 * @param {string} folder
 * @param {string[]} may
 */
function layerBoundaries(folder, may) {
  const gates = GATEWAYS.filter((gate) => gate.folder === folder);
  if (gates.length === 0) return [boundary(folder, may)];
  const gatewayFiles = gates.map((gate) => `src/${folder}/${gate.file}`);
  return [
    boundary(
      folder,
      may.filter((m) => !gates.some((gate) => gate.to === m)),
      { ignores: gatewayFiles, gated: gates },
    ),
    ...gates.map((gate) => boundary(folder, may, { files: [`src/${folder}/${gate.file}`] })),
  ];
}

const boundaries = [
  ...LAYERS.flatMap((folder, i) => layerBoundaries(folder, LAYERS.slice(0, i))),
  boundary(CLIENT_TOOLS.folder, CLIENT_TOOLS.may),
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'bin/*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: { 'import-x/no-cycle': 'error' },
  },
  ...boundaries,
  // The test kit serves the tests, the reliability scenarios and the soak: it and scripts/
  // import from testkit/ (and src/), never from test/, so that test/ can change freely.
  ...[
    { files: ['testkit/**/*.ts'], banned: ['**/test/**', '**/scripts/**'], who: 'testkit/' },
    { files: ['scripts/**/*.ts'], banned: ['**/test/**'], who: 'scripts/' },
  ].map(({ files, banned, who }) => ({
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: banned, message: `${who} imports helpers from testkit/, never from test/ (STYLE 14: one test kit)` }] },
      ],
    },
  })),
  {
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['test/**/*.ts', 'testkit/**/*.ts'],
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
    },
  },
);
