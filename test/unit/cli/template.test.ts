import t from 'tap';
import { asGoMap, goString, parseTemplate, renderTemplate } from '../../../src/cli/format/template.ts';
import { alignColumns } from '../../../src/cli/format/tabwriter.ts';
import { isUsageError } from '../../../src/cli/parse/usage-error.ts';

const net = {
  Name: 'front',
  Id: 'abcdefghijklmnopqrstuvwxy',
  Internal: false,
  Attachable: true,
  Labels: asGoMap({ tier: 'web', env: 'prod' }),
  IPAM: {
    Driver: 'default',
    Config: [
      { Subnet: '10.0.9.0/24', Gateway: '10.0.9.1' },
      { Subnet: '10.0.10.0/24', Gateway: '10.0.10.1' },
    ],
  },
  Ports: [80, 443],
  Empty: [],
  Count: 3,
  Label: (k: string) => (({ tier: 'web' }) as Record<string, string>)[k] ?? '',
};

t.test('templates print what Docker templates print', async (t) => {
  const cases: [string, string][] = [
    ['{{.Name}}', 'front'],
    ['{{ .Name }}', 'front'],
    ['name={{.Name}} id={{.Id}}', 'name=front id=abcdefghijklmnopqrstuvwxy'],
    ['{{.Internal}} {{.Attachable}}', 'false true'],
    ['{{.Labels}}', 'map[env:prod tier:web]'],
    ['{{.Labels.tier}}', 'web'],
    ['{{.Labels.missing}}', '<no value>'],
    ['{{index .Labels "env"}}', 'prod'],
    ['{{index .Labels "nope"}}', '<no value>'],
    ['{{json .Labels}}', '{"tier":"web","env":"prod"}'],
    ['{{json .Name}}', '"front"'],
    ['{{(index .IPAM.Config 0).Subnet}}', '10.0.9.0/24'],
    ['{{range .IPAM.Config}}{{.Subnet}} {{end}}', '10.0.9.0/24 10.0.10.0/24 '],
    ['{{range $i, $c := .IPAM.Config}}{{$i}}:{{$c.Gateway}};{{end}}', '0:10.0.9.1;1:10.0.10.1;'],
    ['{{range $k, $v := .Labels}}{{$k}}={{$v}},{{end}}', 'env=prod,tier=web,'],
    ['{{range .Empty}}x{{else}}none{{end}}', 'none'],
    ['{{if .Internal}}internal{{else}}external{{end}}', 'external'],
    ['{{if .Internal}}a{{else if .Attachable}}b{{else}}c{{end}}', 'b'],
    ['{{with .IPAM}}{{.Driver}}{{end}}', 'default'],
    ['{{.Ports}}', '[80 443]'],
    ['{{len .Ports}}', '2'],
    ['{{join .Ports ","}}', '80,443'],
    ['{{.Name | upper}}', 'FRONT'],
    ['{{upper .Name}}', 'FRONT'],
    ['{{title "hello world"}}', 'Hello World'],
    ['{{lower "ABC"}}', 'abc'],
    ['{{truncate .Id 12}}', 'abcdefghijkl'],
    ['{{pad .Name 1 2}}|', ' front  |'],
    ['{{split "a:b" ":"}}', '[a b]'],
    ['{{printf "%s has %d ports" .Name .Count}}', 'front has 3 ports'],
    ['{{printf "%-8s|" .Name}}', 'front   |'],
    ['{{printf "%q" .Name}}', '"front"'],
    ['{{eq .Name "front"}} {{ne .Count 3}} {{lt .Count 4}}', 'true false true'],
    ['{{if and .Attachable (not .Internal)}}ok{{end}}', 'ok'],
    ['{{or "" "fallback"}}', 'fallback'],
    ['{{.Label "tier"}}', 'web'],
    ['{{$n := .Name}}{{$n}}!', 'front!'],
    ['{{range .Ports}}{{$.Name}}:{{.}} {{end}}', 'front:80 front:443 '],
    ['a  {{- .Name -}}  b', 'afrontb'],
    ['{{/* a comment */}}x', 'x'],
    ['{{"with }} inside"}}', 'with }} inside'],
    ['{{`raw`}}', 'raw'],
    ['{{.IPAM}}', '{default [{10.0.9.0/24 10.0.9.1} {10.0.10.0/24 10.0.10.1}]}'],
    ['{{json .}}'.replace('.}}', '.Empty}}'), '[]'],
    ['plain text', 'plain text'],
  ];
  for (const [src, want] of cases) t.equal(renderTemplate(src, net), want, src);
});

t.test('template errors are one line starting with template:', async (t) => {
  const cases: [string, RegExp][] = [
    ['{{.Nope}}', /^template: executing at <\.Nope>: can't evaluate field Nope$/],
    ['{{.Name.X}}', /can't evaluate field X in type string/],
    ['{{.Name', /^template: unclosed action$/],
    ['{{nosuch .Name}}', /^template: function "nosuch" not defined$/],
    ['{{if .Name}}x', /missing \{\{end\}\}/],
    ['{{end}}', /unexpected \{\{end\}\}/],
    ['{{$x}}', /undefined variable "\$x"/],
    ['{{.Name 1}}', /can't give argument to non-function/],
    ['{{index .Ports 5}}', /index out of range: 5/],
    ['{{"abc}}', /unclosed action|unterminated/],
    ['{{range .Name}}{{end}}', /range can't iterate over front/],
  ];
  for (const [src, re] of cases) {
    try {
      renderTemplate(src, net);
      t.fail(`no error for ${src}`);
    } catch (err) {
      t.ok(isUsageError(err), src);
      t.match((err as Error).message, re, src);
      t.notMatch((err as Error).message, /\n/, 'one line');
    }
  }
});

t.test('top-level fields are collected for table headers', async (t) => {
  t.same(parseTemplate('table {{.ID}}\t{{.Name}}\t{{json .Labels}}').topFields, ['ID', 'Name', 'Labels']);
  t.same(parseTemplate('{{range .Ports}}{{.X}}{{end}}{{if .A}}{{.B}}{{end}}').topFields, ['Ports', 'A', 'B']);
});

t.test('goString', async (t) => {
  t.equal(goString(null), '<nil>');
  t.equal(goString([]), '[]');
  t.equal(goString(asGoMap({})), 'map[]');
  t.equal(goString(1.5), '1.5');
});

t.test('tabwriter aligns like Docker tables (min 10, padding 3)', async (t) => {
  const cases: [string, string][] = [
    ['A\tB\n1\t2\n', 'A         B\n1         2\n'],
    [
      'NETWORK ID\tNAME\tDRIVER\tSCOPE\nabcdefghijkl\tfront\toverlay\tswarm\n',
      'NETWORK ID     NAME      DRIVER    SCOPE\nabcdefghijkl   front     overlay   swarm\n',
    ],
    ['X\tY\tZ\nlong-long-long\t\t\n', `X${' '.repeat(16)}Y${' '.repeat(9)}Z\nlong-long-long${' '.repeat(13)}\n`],
    // a line with fewer cells ends the block of the columns it lacks
    ['a\tb\tc\nonly\nlonger-cell-here\tb\tc\n', 'a         b         c\nonly\nlonger-cell-here   b         c\n'],
    ['é\tx\n', 'é         x\n'],
    ['no tabs\n', 'no tabs\n'],
  ];
  for (const [input, want] of cases) t.equal(alignColumns(input), want, JSON.stringify(input));
});
