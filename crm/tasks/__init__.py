"""The plan's task ledger (任务台账): the 18 重点任务 and 3 保障措施 with their 责任单位, the units' progress
reports, 专项督导 with rectification items, and the situation report to the city government."""
