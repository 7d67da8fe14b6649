"""Company fundamentals: the latest figures and their quarterly or annual history."""

import calendar
import datetime as dt
import math
from typing import Any

from sandbox.synth.noise import seed_of, unit
from sandbox.synth.quotes import quote
from sandbox.synth.symbols import Symbol


def fundamental_base(symbol: Symbol) -> dict[str, float]:
    """Yearly figures (USD) sized from market cap with per-symbol ratios."""
    seed = seed_of("fundamentals", symbol.code)
    cap = symbol.shares * symbol.walk.price
    pe = 18 + 40 * unit(seed, 1)
    margin = 0.08 + 0.22 * unit(seed, 2)
    net_income = cap / pe
    revenue = net_income / margin
    return {
        "revenue": revenue,
        "net_income": net_income,
        "gross_margin": 0.3 + 0.4 * unit(seed, 3),
        "operating_margin": margin * 1.25,
        "assets": revenue * (1 + unit(seed, 4)),
        "debt": revenue * 0.4 * unit(seed, 5),
        "cash": revenue * 0.3 * unit(seed, 6),
        "capex": revenue * 0.05 * (1 + unit(seed, 7)),
    }


def fundamentals(symbol: Symbol, now: float) -> dict[str, Any] | None:
    if symbol.type != "stock":
        return None
    base = fundamental_base(symbol)
    last = quote(symbol, now)["last_price"]
    cap = symbol.shares * last
    eps = base["net_income"] / symbol.shares
    equity = base["assets"] - base["debt"] * 2
    cash_flow = base["net_income"] * 1.15
    return {
        "code": symbol.code,
        "name": symbol.name,
        "currency_code": symbol.currency,
        "fiscal_period": _last_quarter_label(now),
        "company": {
            "sector": symbol.sector,
            "industry": symbol.industry,
            "country": symbol.country,
            "exchange": symbol.exchange,
            "shares_outstanding": symbol.shares,
        },
        "valuation": {
            "market_cap": round(cap),
            "price_earnings_ttm": round(last / eps, 2),
            "price_sales_ttm": round(cap / base["revenue"], 2),
            "price_book": round(cap / equity, 2),
            "enterprise_value": round(cap + base["debt"] - base["cash"]),
        },
        "profitability": {
            "gross_margin": round(base["gross_margin"] * 100, 2),
            "operating_margin": round(base["operating_margin"] * 100, 2),
            "net_margin": round(base["net_income"] / base["revenue"] * 100, 2),
            "return_on_equity": round(base["net_income"] / equity * 100, 2),
        },
        "income_statement": {
            "revenue_ttm": round(base["revenue"]),
            "gross_profit_ttm": round(base["revenue"] * base["gross_margin"]),
            "operating_income_ttm": round(base["revenue"] * base["operating_margin"]),
            "net_income_ttm": round(base["net_income"]),
            "eps_diluted_ttm": round(eps, 2),
        },
        "balance_sheet": {
            "total_assets": round(base["assets"]),
            "total_debt": round(base["debt"]),
            "cash_and_equivalents": round(base["cash"]),
            "total_equity": round(equity),
        },
        "cash_flow": {
            "operating_cash_flow_ttm": round(cash_flow),
            "capital_expenditures_ttm": round(-base["capex"]),
            "free_cash_flow_ttm": round(cash_flow - base["capex"]),
        },
        "dividends": {
            "dividend_yield": round(symbol.dividend_yield * 100, 2),
            "dividend_per_share_ttm": round(symbol.dividend_yield * last, 2),
        },
    }


def quarter_ends(now: float, count: int, *, annual: bool) -> list[dt.date]:
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    # A period is reported about 40 days after it ends.
    cutoff = today - dt.timedelta(days=40)
    year, month = cutoff.year, cutoff.month
    ends = []
    while len(ends) < count:
        if month % 3 == 0 and (not annual or month == 12):
            end = dt.date(year, month, calendar.monthrange(year, month)[1])
            if end <= cutoff:
                ends.append(end)
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return ends


def _last_quarter_label(now: float) -> str:
    end = quarter_ends(now, 1, annual=False)[0]
    return f"Q{(end.month - 1) // 3 + 1} {end.year}"


FUNDAMENTAL_FIELDS = ("revenue", "net_income", "eps_diluted", "operating_cash_flow")


def fundamentals_series(
    symbol: Symbol, now: float, *, period: str, count: int
) -> dict[str, Any] | None:
    if symbol.type != "stock":
        return None
    base = fundamental_base(symbol)
    seed = seed_of("fundamentals-series", symbol.code)
    annual = period == "annual"
    rows = []
    for end in quarter_ends(now, count, annual=annual):
        years_back = (dt.datetime.fromtimestamp(now, dt.UTC).date() - end).days / 365.25
        level = math.exp(-0.08 * years_back) * (0.9 + 0.2 * unit(seed, end.toordinal()))
        share = 1.0 if annual else 0.25
        net = base["net_income"] * share * level
        rows.append(
            {
                "date": end.isoformat(),
                "revenue": round(base["revenue"] * share * level),
                "net_income": round(net),
                "eps_diluted": round(net / symbol.shares, 2),
                "operating_cash_flow": round(net * 1.15),
            }
        )
    rows.reverse()
    return {
        "code": symbol.code,
        "period": period,
        "currency_code": symbol.currency,
        "series": rows,
    }
