"""Customers and their orders, with the field types Django projects use most."""

from django.db import models


class Customer(models.Model):
    name = models.CharField(max_length=80)
    email = models.CharField(max_length=120, null=True, blank=True)


class Order(models.Model):
    STATUSES = (("new", "New"), ("paid", "Paid"), ("shipped", "Shipped"))

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    quantity = models.IntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    paid = models.BooleanField(default=False)
    order_date = models.DateField()
    created_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=STATUSES, default="new")
    notes = models.TextField(null=True, blank=True)
