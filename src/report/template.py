"""The report's page: one jinja2 template (inline CSS, no scripts). Every table sits in its own scroll container so a
phone never scrolls the page sideways; names come through the ``breakable`` filter (:mod:`report.html`) so long
event and rule names wrap at their underscores and dots."""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h1, h2, h3, p, li, summary { overflow-wrap: anywhere; }
.meta { color: #666; font-size: .85rem; }
.big { font-size: 1.35rem; font-weight: 600; background: #eef5fb; border-left: 5px solid #1f77b4; padding: .8rem 1rem; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border-bottom: 1px solid #e4e4e4; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f6f6; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { min-width: 8rem; max-width: 22rem; }
img.chart { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
.note { color: #555; font-size: .85rem; } .warn { color: #8a4b00; }
details { margin: 0 0 1rem; } summary { cursor: pointer; color: #1f4e79; }
code { font-size: .85rem; background: #f4f4f4; padding: 0 .2rem; }
@media (max-width: 600px) { body { padding: .8rem; } .big { font-size: 1.1rem; } }
</style></head>
<body>
<h1>{{ title }}</h1>
<p class="meta">{{ meta }}</p>

<section id="headline">
<h2>The headline</h2>
<p class="big">{{ headline }}</p>
{% for w in headline_warnings %}<p class="warn">But: {{ w }}</p>
{% endfor %}<p>{{ headline_detail }}</p>
{% if model_choice %}<p class="note">{{ model_choice }}</p>{% endif %}
</section>

<section id="volume">
<h2>Accounts called a week: how many convert</h2>
<p>The line is the model handing sales its best-scored accounts, as many a week as the axis says; each numbered point
is one PQL definition (its number in the first column below), which flags a fixed number of accounts a week. Higher
is better at the same volume.</p>
<img class="chart" alt="share converting and converting accounts a week against accounts called a week"
     src="{{ volume_chart }}">
<div class="scroll"><table id="capacity"><tr><th>point</th><th>definition</th><th>accounts a week</th>
<th>share converting</th><th>converting a week</th><th>model at the same volume: share</th><th>converting a week</th>
<th>converting a week at your capacity</th></tr>
{% for r in points %}<tr><td class="key">{{ r.key }}</td><td class="name">{{ r.name|breakable }}</td>
<td class="n">{{ r.per_week }}</td><td class="n">{{ r.precision }}</td><td class="n">{{ r.conversions }}</td>
<td class="n">{{ r.model_precision }}</td><td class="n">{{ r.model_conversions }}</td><td class="n">{{ r.at_capacity }}</td></tr>
{% endfor %}</table></div>
{% if revenue %}<h3>Revenue at your capacity</h3>
<div class="scroll"><table><tr><th>who picks the accounts</th><th>revenue won a week (conversion amounts)</th></tr>
{% for r in revenue %}<tr><td class="name">{{ r.name|breakable }}</td><td class="n">{{ r.value }}</td></tr>{% endfor %}
</table></div>{% endif %}
<p class="note">At your capacity a definition that flags more accounts than sales can call is called at random among
its flags; one that flags fewer fills fewer calls. Weeks are backtest weeks: each was scored by a model trained only
on what was known before it.</p>
</section>

<section id="tiers">
<h2>PQL tiers</h2>
<div class="scroll"><table id="tier-table"><tr><th>tier</th><th>accounts a week</th><th>accounts (backtest)</th>
<th>converted</th><th>conversion rate</th><th>95% range</th></tr>
{% for r in tiers %}<tr><td class="name">{{ r.tier }}</td><td class="n">{{ r.per_week }}</td><td class="n">{{ r.accounts }}</td>
<td class="n">{{ r.converted }}</td><td class="n">{{ r.rate }}</td><td class="n">{{ r.interval }}</td></tr>
{% endfor %}</table></div>
<p class="note">The 95% range is where the true conversion rate lies given how many accounts the backtest had.</p>
{% if tier1_sample %}<h3>Tier 1 in the newest backtest week: who to call</h3>
<div class="scroll"><table id="tier1-sample"><tr><th>account</th><th>score</th><th>converted</th><th>contacts</th></tr>
{% for r in tier1_sample %}<tr><td class="name">{{ r.account }}</td><td class="n">{{ r.score }}</td><td>{{ r.converted }}</td>
<td>{{ r.contacts|breakable }}</td></tr>{% endfor %}</table></div>
<p class="note">Contacts: decision makers first, then the most active in the 30 days before that week, as known then.</p>{% endif %}
</section>

<section id="funnel">
<h2>The sign-up funnel</h2>
{% if funnel %}
<p>Of the accounts that signed up in a week, the share each definition flagged within 7 and 30 days of sign-up, how
long that took, and how many of those PQLs became customers within {{ horizon }}, pooled over the
{{ funnel_weeks }} every definition covers. {{ funnel_scope }}</p>
<div class="scroll"><table><tr><th>definition</th><th>cohorts</th><th>accounts</th><th>PQL within 7 days</th>
<th>PQL within 30 days</th><th>PQLs</th><th>median days to PQL</th><th>PQL to customer</th></tr>
{% for r in funnel %}<tr><td class="name">{{ r.definition|breakable }}</td><td class="n">{{ r.cohorts }}</td>
<td class="n">{{ r.accounts }}</td><td class="n">{{ r.pql_7d }}</td><td class="n">{{ r.pql_30d }}</td>
<td class="n">{{ r.pqls }}</td><td class="n">{{ r.days }}</td><td class="n">{{ r.won }}</td></tr>
{% endfor %}</table></div>
<h3>By sign-up week: share PQL within 30 days (newest first)</h3>
{% macro cohort_table(rows) %}<div class="scroll"><table class="cohorts"><tr><th>sign-up week</th><th>accounts</th>
{% for d in cohort_columns %}<th>{{ d|breakable }}</th>{% endfor %}</tr>
{% for r in rows %}<tr><td class="n">{{ r.week }}</td><td class="n">{{ r.accounts }}</td>
{% for v in r.cells %}<td class="n">{{ v }}</td>{% endfor %}</tr>
{% endfor %}</table></div>{% endmacro %}
{{ cohort_table(cohorts) }}
{% if cohorts_folded %}<details id="earlier-weeks"><summary>{{ cohorts_folded_line }}</summary>
{{ cohort_table(cohorts_folded) }}</details>{% endif %}
{% else %}<p>No sign-up week has matured yet: a week is shown once 30 days and {{ horizon }} more have passed after
it.</p>
{% endif %}
<p class="note">Definitions are checked on the {{ grid }} snapshots: "within 7 days" means flagged at a look in the
first 7 days after sign-up, "within 30 days" at one of the looks in the first 30 days.</p>
</section>

<section id="definitions">
<h2>The PQL definitions</h2>
{% if definitions %}
<div class="scroll"><table><tr><th>where from</th><th>name</th><th>in words</th><th>rule</th><th>stability</th>
<th>figures</th><th>flagged (backtest)</th><th>share converting</th></tr>
{% for r in definitions %}<tr><td>{{ r.source }}</td><td class="name">{{ r.name|breakable }}</td>
<td class="name">{{ r.words|breakable }}</td><td class="name"><code>{{ r.expression|breakable }}</code></td>
<td>{{ r.stability }}</td><td>{{ r.measured }}</td><td class="n">{{ r.flagged }}</td><td class="n">{{ r.precision }}</td></tr>
{% endfor %}</table></div>
<p class="note">{{ definitions_note }}</p>
{% else %}<p>No PQL definitions were configured or learned: the model is reported alone.</p>{% endif %}
</section>

<section id="calibration">
<h2>Can the scores be taken at their word?</h2>
<p>{{ calibration_lead }}</p>
<img class="chart" alt="score given against share converted per score band" src="{{ calibration_chart }}">
<ul>{% for line in calibration %}<li>{{ line }}</li>{% endfor %}</ul>
</section>

<section id="health">
<h2>Data health</h2>
{% if warnings %}<ul>{% for w in warnings %}<li class="warn">{{ w }}</li>{% endfor %}</ul>
{% else %}<p>No warnings.</p>{% endif %}
<p class="note">{{ health_note }}</p>
</section>
</body></html>
"""
