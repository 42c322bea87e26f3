"""The English the engine reads, as data: operator phrases, superlative adjectives, and the closed
class of function words that carry no schema meaning. Nothing here names a particular schema."""
from __future__ import annotations

# phrase -> (kind, payload). Matched on surface words, longest first, before schema names.
PHRASES: dict[str, tuple[str, object]] = {}


def _add(kind: str, payload, *phrases: str) -> None:
    for p in phrases:
        PHRASES[p] = (kind, payload)


_add("count", None, "frequency", "their frequency", "the frequency", "how many", "number of", "the number of", "count of", "count", "total number of", "counts of",
     "total count of", "how many number of")
_add("function", None, "amount of", "the amount of", "kind of", "type of the")
_add("agg", "avg", "average", "avg", "mean", "average of", "the average of")
_add("agg", "sum", "total", "sum of", "sum", "combined", "in total", "total of")
_add("agg", "max", "maximum", "max", "the maximum", "highest", "largest", "biggest", "greatest")
_add("agg", "min", "minimum", "min", "the minimum", "lowest", "smallest", "least")
_add("most", "desc", "most", "the most", "most number of", "the most number of", "the largest number of",
     "the greatest number of", "greatest number of", "the highest number of", "highest number of", "largest number of",
     "most common", "the most common", "most frequent", "the most frequent", "most popular", "the most popular")
_add("most", "asc", "fewest", "the fewest", "the least number of", "least number of", "the smallest number of",
     "smallest number of", "the lowest number of", "lowest number of", "least common", "the least common", "rarest",
     "the rarest", "least popular")
_add("percent", None, "percentage of", "percent of", "what percentage of", "the percentage of", "share of", "the share of",
     "proportion of", "the proportion of", "fraction of", "what fraction of", "what share of", "percentage", "percent",
     "what percent of", "the fraction of")
_add("money", None, "revenue", "sales", "turnover", "takings", "income", "the revenue", "gmv")
_add("distinct", None, "distinct", "different", "unique")
_add("cmp", ">", "more than", "greater than", "larger than", "bigger than", "higher than", "over", "above",
     "exceeding", "after", "later than", "longer than", "heavier than", "older than", "taller than")
_add("cmp", "<", "less than", "fewer than", "lower than", "smaller than", "under", "below", "before", "earlier than",
     "shorter than", "lighter than", "younger than")
_add("cmp", ">=", "at least", "no less than", "or more", "or above", "or older", "or after", "not less than")
_add("cmp", "<=", "at most", "no more than", "or less", "or fewer", "or below", "or before", "not more than")
_add("cmp", "=", "equal to", "exactly", "equals")
_add("cmpword", ">", "more", "greater", "larger", "bigger", "higher")
_add("cmpword", "<", "less", "fewer", "smaller", "lower")
_add("cmp", "!=", "other than", "different from", "except")
_add("between", None, "between")
_add("aged", None, "aged", "at the age of")
_add("yearsold", None, "years old", "year old", "years of age")
_add("order", "asc", "ascending", "in ascending order", "ascending order", "ascendingly", "alphabetical order",
     "in alphabetical order", "alphabetically", "alphabetical", "in ascending", "from low to high", "increasing")
_add("order", "desc", "descending", "in descending order", "descending order", "descendingly", "in descending",
     "from high to low", "decreasing", "in reverse order")
_add("orderby", None, "ordered by", "order by", "sorted by", "sort by", "sorted", "ordered", "in order of",
     "in the order of", "order of", "rank by", "ranked by", "sort", "order")
_add("group", None, "for each", "for every", "in each", "of each", "per", "each", "by each", "for all the different",
     "grouped by", "group by", "for different", "in different", "of different")
_add("neg", None, "not", "no", "never", "do not", "does not", "did not", "don't", "doesn't", "didn't", "have not",
     "has not", "haven't", "hasn't", "are not", "is not", "were not", "was not", "aren't", "isn't", "without", "nor")
_add("and", None, ",", ", and", "and", "as well as", "along with", "together with", "also", "and also", "plus")
_add("or", None, "or", "either")
_add("both", None, "both")
_add("but", None, "but", "but not", "however")
_add("limit", None, "top", "first")
_add("like", None, "contains", "containing", "contain", "includes", "including", "with the word", "with the substring",
     "the substring", "the word", "substring", "the string", "with the letter", "letter")

# Adjectives that mean "order by a kind of column": stem of the column words looked for, direction.
SUPERLATIVES = {
    "youngest": (("age",), "asc", ("birth", "born", "dob"), "desc"),
    "oldest": (("age",), "desc", ("birth", "born", "dob"), "asc"),
    "heaviest": (("weight",), "desc", (), ""), "lightest": (("weight",), "asc", (), ""),
    "tallest": (("height",), "desc", (), ""), "shortest": (("height", "length", "duration"), "asc", (), ""),
    "longest": (("length", "duration", "pages"), "desc", (), ""),
    "most expensive": (("price", "cost", "amount", "fee", "charge"), "desc", (), ""),
    "cheapest": (("price", "cost", "amount", "fee", "charge"), "asc", (), ""),
    "least expensive": (("price", "cost", "amount", "fee", "charge"), "asc", (), ""),
    "earliest": (("year", "date", "time"), "asc", (), ""), "latest": (("year", "date", "time"), "desc", (), ""),
    "most recent": (("date", "year", "time"), "desc", (), ""), "most recently": (("date", "year", "time"), "desc", (), ""),
    "richest": (("worth", "earning", "income", "wealth"), "desc", (), ""),
}
# Comparative adjectives "older than 30": the kind of column compared.
COMPARATIVE_COLUMNS = {"older than": ("age",), "younger than": ("age",), "heavier than": ("weight",),
                       "lighter than": ("weight",), "taller than": ("height",), "shorter than": ("height",),
                       "longer than": ("length", "duration"), "aged": ("age",)}

# Words that may stand anywhere without changing the query.
FUNCTION_WORDS = frozenset("""
a an the of what which who whom whose where when is are was were be been being am do does did have has had having
there their its it it's this that these those them they he she his her our we you your i me my us
show list give return find tell get display provide report present name? please can could would will shall
all any some every in on at by for from to with within into onto as about across among amongst such than
also just only then thus so too very ever currently still yet now respectively corresponding correspond corresponds
here overall altogether exist exists existing listed recorded compute calculate show me much how
that's whether if how well along together
""".split()) - {"name?"}
# Connecting verbs: they relate two things the question names and are read as the join between them, allowed
# only when that join is the only one between the two tables.
RELATION_WORDS = frozenset("""
own owns owned owning raise raised have has had belong belongs belonging produce produces produced producing make makes
made making perform performs performed performing play plays played playing take takes took taken teach teaches taught
arrange arranged conduct conducts conducted work works worked serve serves served use used uses using hold holds held
host hosts hosted involve involved involving contain contained attend attended attends come comes came go goes went
live lives lived living receive received receives get gets got write writes wrote written sing sings sang sung release
released create created creates build built register registered enroll enrolled visit visited operate operated
manage managed manages provide provided sell sold sells buy bought participate participated happen happened occur
occurred occurs record recorded locate located base based associate associated affiliated relate related link linked
do done shared share shares weigh weighs weighed weighing weighted cost costs hire hired gone went through given
treated treat treats designed design operating fly flies spend spent pay start started borrow borrowed join joined leave left handle handled ship shipped issue issued
open opened prescribe prescribed born earn earns earned invoice invoiced place placed sign signed book booked
""".split())
# Verbs that compare a kind of column: "employees who earn more than 100000".
VERB_COLUMNS = {"earn": ("salary", "wage", "pay", "income", "earning"), "earns": ("salary", "wage", "pay", "income", "earning"),
                "cost": ("cost", "price", "amount", "fee"), "costs": ("cost", "price", "amount", "fee"),
                "weigh": ("weight",), "weighs": ("weight",), "weighed": ("weight",), "weighing": ("weight",),
                "weighted": ("weight",), "spent": ("cost", "amount", "price"), "spend": ("cost", "amount", "price"), "born": ("birth",), "last": ("duration",),
                "lasted": ("duration",), "aged": ("age",)}
