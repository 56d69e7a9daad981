from django.contrib import admin

from shopsearch.admin import SemanticSearchAdminMixin

from .models import Category, Product, Review


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0
    fields = ["title", "text", "rating", "helpful_votes"]
    show_change_link = True


@admin.register(Product)
class ProductAdmin(SemanticSearchAdminMixin, admin.ModelAdmin):
    list_display = ["title", "category", "price", "in_stock", "updated_at"]
    list_filter = ["category", "in_stock"]
    search_fields = ["title", "external_id"]
    inlines = [ReviewInline]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["__str__", "product", "rating", "helpful_votes"]
    list_filter = ["rating"]
    search_fields = ["title", "text"]
    raw_id_fields = ["product"]
